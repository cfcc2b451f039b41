package CosSignature;

# The COS request signature (q-sign-algorithm=sha1), written in Perl from
# the documentation, independently of the module's C code.  The emulator
# verifies the gateway's requests with it; tests sign direct requests with
# it.

use strict;
use warnings;

use Digest::SHA qw(hmac_sha1_hex sha1_hex);
use Exporter qw(import);

our @EXPORT_OK = qw(uri_encode uri_decode authorization verify);

# every byte but A-Z a-z 0-9 - _ . ~ as %XX, upper-case hex
sub uri_encode {
    my ($s) = @_;
    utf8::encode($s) if utf8::is_utf8($s);
    $s =~ s/([^A-Za-z0-9\-_.~])/sprintf '%%%02X', ord $1/ge;
    return $s;
}

sub uri_decode {
    my ($s) = @_;
    $s =~ s/%([0-9A-Fa-f]{2})/chr hex $1/ge;
    return $s;
}

# [ [name, value], ... ] -> ("k=v&k=v", "k;k"), names lower-cased
sub canonical {
    my ($pairs) = @_;
    my @enc = sort { $a->[0] cmp $b->[0] }
              map { [ lc uri_encode($_->[0]), uri_encode($_->[1]) ] } @$pairs;
    return (join('&', map { "$_->[0]=$_->[1]" } @enc),
            join(';', map { $_->[0] } @enc));
}

# authorization(method, decoded path, [params], [headers], id, key, start, end)
sub authorization {
    my ($method, $path, $params, $headers, $id, $key, $start, $end) = @_;
    my $key_time = "$start;$end";
    my ($http_params, $param_list) = canonical($params);
    my ($http_headers, $header_list) = canonical($headers);
    my $http_string = lc($method) . "\n$path\n$http_params\n$http_headers\n";
    my $string_to_sign = "sha1\n$key_time\n" . sha1_hex($http_string) . "\n";
    my $sign_key = hmac_sha1_hex($key_time, $key);
    my $signature = hmac_sha1_hex($string_to_sign, $sign_key);
    return "q-sign-algorithm=sha1&q-ak=$id&q-sign-time=$key_time"
         . "&q-key-time=$key_time&q-header-list=$header_list"
         . "&q-url-param-list=$param_list&q-signature=$signature";
}

# verify(method, target, { lc name => value }, { id => key }, now)
#   -> (undef, id) when good, or (CI error code, message)
sub verify {
    my ($method, $target, $headers, $secrets, $now) = @_;

    my $auth = $headers->{authorization}
        // return ('AccessDenied', 'no Authorization header');
    my %a = map { /^([^=]*)=(.*)$/s ? ($1 => $2) : ($_ => '') }
            split /&/, $auth;

    for (qw(q-sign-algorithm q-ak q-sign-time q-key-time q-header-list
            q-url-param-list q-signature)) {
        return ('AccessDenied', "no $_") unless defined $a{$_};
    }

    return ('AccessDenied', 'q-sign-algorithm is not sha1')
        unless $a{'q-sign-algorithm'} eq 'sha1';

    my $key = $secrets->{ $a{'q-ak'} }
        // return ('InvalidAccessKeyId', 'unknown q-ak');

    my ($start, $end) = $a{'q-sign-time'} =~ /^(\d+);(\d+)$/
        or return ('AccessDenied', 'bad q-sign-time');
    return ('AccessDenied', 'q-key-time differs from q-sign-time')
        unless $a{'q-key-time'} eq $a{'q-sign-time'};
    return ('RequestTimeTooSkewed', 'The difference between the request '
            . "time and the server's time is too large.")
        unless $start <= $now && $now <= $end;

    my ($path, $query) = $target =~ /^([^?]*)(?:\?(.*))?$/s;
    my @params = map { my ($n, $v) = split /=/, $_, 2;
                       [ uri_decode($n), uri_decode($v // '') ] }
                 grep { length } split /&/, $query // '';

    my @header_names = grep { length } split /;/, $a{'q-header-list'};
    return ('SignatureDoesNotMatch', 'host is not signed')
        unless grep { $_ eq 'host' } @header_names;

    my @param_names = grep { length } split /;/, $a{'q-url-param-list'};
    my @sent = sort map { lc uri_encode($_->[0]) } @params;
    return ('SignatureDoesNotMatch',
            'q-url-param-list does not list every query parameter')
        unless join(';', @sent) eq join(';', sort @param_names);

    my @signed_headers;
    for my $name (@header_names) {
        my $v = $headers->{$name}
            // return ('SignatureDoesNotMatch', "signed header $name missing");
        push @signed_headers, [ $name, $v ];
    }

    my $expected = authorization($method, uri_decode($path), \@params,
                                 \@signed_headers, $a{'q-ak'}, $key,
                                 $start, $end);
    my ($signature) = $expected =~ /q-signature=(\w+)$/;

    return ('SignatureDoesNotMatch', 'signature mismatch')
        unless $signature eq $a{'q-signature'};

    return (undef, $a{'q-ak'});
}

1;
